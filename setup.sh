#!/bin/sh
# Sets up .venv: the pinned dependencies of pyproject.toml (pip install -e '.[dev]').
# Both Quick start lines and .ci/run start with it. Idempotent: when pyproject.toml has not
# changed since the last install it only checks, in well under a second.
set -eu
cd "$(dirname "$0")"
if [ -L .venv ]; then
    # a linked venv is shared with other checkouts: never install one checkout into it
    .venv/bin/python -c "import torch, transformers, snakemake, pytest" || {
        echo "setup.sh: .venv is a link to a venv that lacks the dependencies; install them there" >&2
        exit 1
    }
    exit 0
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
want="$(pwd) $(sha256sum pyproject.toml | cut -c1-16)"
stamp=.venv/.setup-done
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
echo "setup.sh: installing the pinned dependencies into .venv (a few minutes the first time)" >&2
.venv/bin/pip install -q -e '.[dev]'
echo "$want" >"$stamp"
