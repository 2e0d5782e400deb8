/**
 * The sandbox's init script and the op list that drives it. The script runs under the HOST's
 * `/bin/sh` as pid 1 of fresh mount and PID namespaces (inside the user namespace when rootless),
 * so it needs nothing from the image. Node plans every path (resolved safely inside the rootfs)
 * and passes a flat op list as positional arguments, so no path is ever parsed by the shell.
 * @module
 */

/** One step of the sandbox plan. Paths are host paths already resolved inside the rootfs. */
export type SandboxOp =
  | { op: 'mkdir'; path: string; mode: number }
  | { op: 'touch'; path: string }
  | { op: 'rbind'; source: string; target: string }
  | { op: 'copytree'; source: string; target: string }
  | { op: 'ro'; target: string }
  | { op: 'proc'; target: string }
  | { op: 'sys'; target: string }
  | { op: 'tmpfs'; target: string; options: string }
  | { op: 'devpts'; target: string }
  | { op: 'symlink'; linkTarget: string; path: string }
  | { op: 'chown'; owner: string; path: string }
  | { op: 'chmod'; mode: number; path: string }
  | { op: 'lo' }
  | { op: 'run'; argv: string[] }
  | { op: 'umount'; target: string }
  | { op: 'rmfile'; path: string }
  | { op: 'rmdir'; path: string }
  | { op: 'mtime'; path: string; stamp: string };

/** Flattens ops into the script's positional arguments. */
export function encodeOps(ops: SandboxOp[]): string[] {
  const out: string[] = [];
  for (const o of ops) {
    switch (o.op) {
      case 'mkdir':
        out.push('mkdir', o.path, o.mode.toString(8));
        break;
      case 'chmod':
        out.push('chmod', o.mode.toString(8), o.path);
        break;
      case 'touch':
      case 'rmfile':
      case 'rmdir':
        out.push(o.op, o.path);
        break;
      case 'rbind':
      case 'copytree':
        out.push(o.op, o.source, o.target);
        break;
      case 'ro':
      case 'proc':
      case 'sys':
      case 'devpts':
      case 'umount':
        out.push(o.op, o.target);
        break;
      case 'tmpfs':
        out.push('tmpfs', o.target, o.options);
        break;
      case 'symlink':
        out.push('symlink', o.linkTarget, o.path);
        break;
      case 'chown':
        out.push('chown', o.owner, o.path);
        break;
      case 'mtime':
        out.push('mtime', o.path, o.stamp);
        break;
      case 'lo':
        out.push('lo');
        break;
      case 'run':
        out.push('run', String(o.argv.length), ...o.argv);
        break;
    }
  }
  return out;
}

/**
 * The init script. Protocol on fd 3: `started` before the command runs, `exit N` after it.
 * A set-up failure prints `ocibuild-sandbox: ...` on stderr and exits 1 without `started`.
 * The command is run as a child (not exec'd) so this shell stays pid 1 and reaps orphans while it
 * waits; when it exits the kernel kills whatever is left in the PID namespace.
 */
export const SANDBOX_SCRIPT = String.raw`
fail() { echo "ocibuild-sandbox: $*" >&2; exit 1; }
rc=0
while [ $# -gt 0 ]; do
  op=$1; shift
  case $op in
    mkdir) [ -d "$1" ] || mkdir -m "$2" "$1" || fail "cannot create directory $1"; shift 2 ;;
    touch) [ -e "$1" ] || : > "$1" || fail "cannot create mount point $1"; shift ;;
    rbind) mount --rbind "$1" "$2" || fail "cannot bind $1 to $2"; shift 2 ;;
    copytree) cp -a "$1/." "$2/" || fail "cannot copy $1 to $2"; shift 2 ;;
    ro) mount -o remount,bind,ro "$1" 2>/dev/null || mount -o remount,bind,ro,nosuid,nodev,noexec "$1" 2>/dev/null || mount -o remount,bind,ro,nosuid,nodev "$1" || fail "cannot make $1 read-only"; shift ;;
    proc) mount -t proc -o nosuid,nodev,noexec proc "$1" || fail "cannot mount proc on $1"; shift ;;
    sys)
      # Fresh sysfs needs a network namespace we own; else a read-only bind of the host's, else none.
      if ! mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$1" 2>/dev/null; then
        if mount --rbind /sys "$1" 2>/dev/null; then
          mount -o remount,bind,ro,nosuid,nodev,noexec "$1" 2>/dev/null || umount -l "$1" 2>/dev/null
        fi
      fi
      shift ;;
    tmpfs) mount -t tmpfs -o "$2" tmpfs "$1" || fail "cannot mount tmpfs on $1"; shift 2 ;;
    devpts) mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$1" 2>/dev/null || true; shift ;;
    symlink) ln -s "$1" "$2" || fail "cannot create symlink $2"; shift 2 ;;
    chown) chown -h "$1" "$2" || fail "cannot chown $2"; shift 2 ;;
    chmod) chmod "$1" "$2" || fail "cannot chmod $2"; shift 2 ;;
    lo) ip link set lo up 2>/dev/null || busybox ip link set lo up 2>/dev/null || true ;;
    run)
      n=$1; shift
      cmd=""; i=1
      while [ $i -le $n ]; do cmd="$cmd \"\${$i}\""; i=$((i + 1)); done
      echo started >&3
      eval "$cmd" 3>&-
      rc=$?
      echo "exit $rc" >&3
      shift $n ;;
    umount) umount -l "$1" 2>/dev/null; shift ;;
    rmfile) if [ -f "$1" ] && [ ! -L "$1" ] && [ ! -s "$1" ]; then rm -f "$1"; fi; shift ;;
    rmdir) rmdir "$1" 2>/dev/null; shift ;;
    mtime) touch -h -m -d "$2" "$1" 2>/dev/null; shift 2 ;;
    *) fail "unknown op $op" ;;
  esac
done
exit $rc
`;
