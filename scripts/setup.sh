#!/usr/bin/env bash
# One-command set-up of a development clone, the same on a laptop and in CI (.ci/run calls it):
# the Debian packages the tests and benchmarks use, then the npm dependencies (`npm ci`, whose
# `prepare` script compiles dist/ so `npx ocibuild` works). Runs as root or as a user with sudo.
#
#   scripts/setup.sh            system packages + npm ci
#   scripts/setup.sh --no-apt   npm ci only (the library itself needs no system package)
set -euo pipefail
cd "$(dirname "$0")/.."

# What the tests run: a real registry, skopeo/umoci/buildah/podman to check and compare outputs,
# busybox-static for base images, bubblewrap/uidmap/util-linux/passwd for rootless RUN, htpasswd
# and openssl for auth and TLS registries, compressors for the codecs, git and ssh for sources.
PACKAGES=(
  docker-registry skopeo umoci buildah podman busybox-static bubblewrap uidmap util-linux passwd
  apache2-utils openssl ca-certificates jq pigz tar gzip bzip2 xz-utils zstd git openssh-client
)

apt=1
for arg in "$@"; do
  case "$arg" in
    --no-apt) apt=0 ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

if ! command -v node >/dev/null 2>&1 || ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=18)?0:1)'; then
  echo "setup.sh: Node.js >= 20.18 is needed (found: $(node -v 2>/dev/null || echo none))" >&2
  exit 1
fi

if [ "$apt" = 1 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup.sh: apt-get not found; install these packages by hand, then run scripts/setup.sh --no-apt:" >&2
    echo "  ${PACKAGES[*]}" >&2
    exit 1
  fi
  # sudo only when needed: CI and containers run as root and often have no sudo at all.
  as_root=()
  if [ "$(id -u)" != 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "setup.sh: not root and no sudo; run as root, or use --no-apt after installing: ${PACKAGES[*]}" >&2
      exit 1
    fi
    as_root=(sudo)
  fi
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PACKAGES[@]}"
fi

npm ci
