#!/usr/bin/env bash
# Quick-start: a registry repo, a dataset versioned into the cache, pushed to a directory remote,
# cloned elsewhere and pulled back byte-identical. No server needed. Everything happens in a temp dir.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
reg() { node "$here/bin/reg.js" "$@"; }
work="$(mktemp -d "${TMPDIR:-/tmp}/reg-quickstart.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export GIT_AUTHOR_NAME="${GIT_AUTHOR_NAME:-reg quickstart}" GIT_AUTHOR_EMAIL="${GIT_AUTHOR_EMAIL:-quickstart@example.org}"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

cd "$work" && git init -q -b main registry && git init -q --bare origin.git && cd registry
step reg init;                                         reg init
mkdir -p raw_datasets/mnist/train raw_datasets/mnist/test
for i in $(seq 1 200); do head -c $((RANDOM % 4096 + 1)) /dev/urandom > "raw_datasets/mnist/train/$(printf %04d "$i").png"; done
for i in $(seq 1 50); do head -c $((RANDOM % 4096 + 1)) /dev/urandom > "raw_datasets/mnist/test/$(printf %04d "$i").png"; done
step reg add raw_datasets/mnist;                       reg add raw_datasets/mnist
step reg status;                                       reg status
step reg remote add storage "$work/remote" --default;  reg remote add storage "$work/remote" --default
step reg push;                                         reg push
git add -A && git commit -qm "mnist v1" && git remote add origin "$work/origin.git" && git push -q origin main

step "git clone ... && reg pull   (a teammate's machine)"
cd "$work" && git clone -q origin.git teammate && cd teammate
reg pull
step reg status;                                       reg status
diff -r "$work/registry/raw_datasets/mnist" "$work/teammate/raw_datasets/mnist" && echo "byte-identical: yes"

step "echo edit >> raw_datasets/mnist/train/0001.png && reg checkout raw_datasets/mnist"
echo edit >> raw_datasets/mnist/train/0001.png
reg checkout raw_datasets/mnist || echo "(refused, exit $?: the edit exists nowhere else)"
step reg checkout --force raw_datasets/mnist;          reg checkout --force raw_datasets/mnist
step reg stash list;                                   reg stash list
printf '\nquick-start finished: init, add, push, clone, pull, checkout all worked.\n'
