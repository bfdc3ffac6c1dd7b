#!/usr/bin/env bash
# Quick-start: a registry repo, a dataset versioned into the cache, pushed to a directory remote,
# cloned elsewhere and pulled back byte-identical. No server needed. Everything happens in a temp dir.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/reg-quickstart.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# The git hooks call `reg`, so it must be on PATH (as after `npm link` or `npm install -g git-data-registry`).
mkdir -p "$work/bin" && printf '#!/bin/sh\nexec node "%s/bin/reg.cjs" "$@"\n' "$here" > "$work/bin/reg" && chmod +x "$work/bin/reg"
export PATH="$work/bin:$PATH"
export GIT_AUTHOR_NAME="${GIT_AUTHOR_NAME:-reg quickstart}" GIT_AUTHOR_EMAIL="${GIT_AUTHOR_EMAIL:-quickstart@example.org}"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

cd "$work" && git init -q -b main registry && git init -q -b main --bare origin.git && cd registry
step reg init;                                         reg init
step reg new raw_datasets/mnist;                       reg new raw_datasets/mnist
step reg check;                                        reg check || echo "(refused, exit $?: the card's required fields are empty)"
sed -i -e 's|^license: .*|license: CC-BY-SA-3.0|' -e 's|^source: .*|source: http://yann.lecun.com/exdb/mnist/|' -e 's|^owner: .*|owner: data-team@example.org|' raw_datasets/mnist.card.md
step "(fill in the card) && reg check";                reg check
mkdir -p raw_datasets/mnist/train raw_datasets/mnist/test
for i in $(seq 1 200); do head -c $((RANDOM % 4096 + 1)) /dev/urandom > "raw_datasets/mnist/train/$(printf %04d "$i").png"; done
for i in $(seq 1 50); do head -c $((RANDOM % 4096 + 1)) /dev/urandom > "raw_datasets/mnist/test/$(printf %04d "$i").png"; done
step reg add raw_datasets/mnist;                       reg add raw_datasets/mnist
step reg status;                                       reg status
step reg remote add storage "$work/remote" --default;  reg remote add storage "$work/remote" --default
mkdir -p processed_datasets/mnist-norm && for i in 1 2 3; do head -c 2048 /dev/urandom > "processed_datasets/mnist-norm/shard-$i.npy"; done
reg new processed_datasets/mnist-norm >/dev/null
step reg push;                                         reg push
step reg hooks install;                                reg hooks install
step 'git commit && git push   (the pre-commit hook runs reg check; pre-push makes sure the data is on the remote)'
git add -A
git commit -qm "mnist v1"
git remote add origin "$work/origin.git"
git push -q origin main

step "git clone ... && reg init && reg pull   (a teammate's machine: reg init installs the git hooks)"
cd "$work" && git clone -q origin.git teammate && cd teammate
reg init
reg pull
step reg status;                                       reg status
diff -r "$work/registry/raw_datasets/mnist" "$work/teammate/raw_datasets/mnist" && diff -r "$work/registry/processed_datasets/mnist-norm" "$work/teammate/processed_datasets/mnist-norm" && echo "byte-identical: yes"

step "echo edit >> raw_datasets/mnist/train/0001.png && reg checkout raw_datasets/mnist"
echo edit >> raw_datasets/mnist/train/0001.png
reg checkout raw_datasets/mnist || echo "(refused, exit $?: the edit exists nowhere else)"
step reg checkout --force raw_datasets/mnist;          reg checkout --force raw_datasets/mnist
step reg stash list;                                   reg stash list
printf '\nquick-start finished: init, new, check, add, push (versioned + synced), hooks, clone, pull, checkout all worked.\n'
