#!/usr/bin/env bash
# ansible-test sanity on a copy of the collection placed under .build/ansible_collections/azure_cvm/backup.
# --venv: ansible-test makes its own virtual environments from PyPI (the only network it needs).
set -euo pipefail
cd "$(dirname "$0")/.."
# ansible-test bootstraps pip in its venvs with a script it downloads from ci-files.testing.ansible.com, which is not
# reachable from here (only PyPI is). Give it an equivalent from the standard library: ensurepip, then the pinned pip
# from the package index. It runs only when ansible-test has no cached script of its own.
pip_version=$(python - <<'PY'
import re, ansible_test._internal.python_requirements as r, inspect
print(re.search(r"pip='([0-9.]+)'", inspect.getsource(r)).group(1))
PY
)
cache=~/.ansible/test/cache/get_pip_${pip_version//./_}.py
if [ ! -s "$cache" ]; then
  mkdir -p "$(dirname "$cache")"
  cat > "$cache" <<'PY'
# Stand-in for get-pip.py written by tests/sanity.sh of azure_cvm.backup: bundled pip first, then the asked version.
import subprocess
import sys
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
PY
fi
mkdir -p .build
scratch=$(mktemp -d "$PWD/.build/sanity.XXXXXX")   # private: several runs may go on at once
trap 'rm -rf "$scratch"' EXIT
dest=$scratch/ansible_collections/azure_cvm/backup
mkdir -p "$dest"
# tracked files plus new untracked ones that git does not ignore, as they are in the working tree
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && mkdir -p "$dest/$(dirname "$f")" && cp -p "$f" "$dest/$f"
done
cd "$dest"
git init -q . && git add -A >/dev/null   # ansible-test lists the files git knows
ansible-test sanity --venv --python 3.11 --color no ${SANITY_ARGS:-}
