#!/usr/bin/env bash
# ansible-test sanity on a copy of the collection placed under .build/ansible_collections/azure_cvm/backup.
# --venv: ansible-test makes its own virtual environments from PyPI (the only network it needs).
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.build/ansible_collections/azure_cvm/backup
rm -rf "$dest" && mkdir -p "$dest"
# tracked files plus new untracked ones that git does not ignore, as they are in the working tree
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && mkdir -p "$dest/$(dirname "$f")" && cp -p "$f" "$dest/$f"
done
cd "$dest"
git init -q . && git add -A >/dev/null   # ansible-test lists the files git knows
ansible-test sanity --venv --python 3.11 --color no ${SANITY_ARGS:-}
