/**
 * The launcher script and the op list that drives it. The script runs under the HOST's `/bin/sh`
 * as the parent of bubblewrap: as the caller itself when it is root, else as root of a user
 * namespace that `unshare` made from the caller's subordinate range. It runs no image code and
 * never enters the rootfs: it prepares owners of mount sources (ids of its own namespace), starts
 * `setpriv … bwrap` in the step's ids and groups, and writes the uid/gid maps of the user
 * namespace bwrap creates (bwrap waits on `--userns-block-fd` for them). Node plans every path
 * (resolved safely inside the rootfs) and passes a flat op list as positional arguments, so no
 * path is ever parsed by the shell. Secrets and build args never pass through here: they are in
 * bwrap's `--args` file.
 * @module
 */

/** One step of the launcher plan. Paths are host paths already resolved inside the rootfs. */
export type SandboxOp =
  | { op: 'mkdir'; path: string; mode: number; owner: string }
  | { op: 'stage'; source: string; path: string; kind: 'dir' | 'file' }
  | { op: 'chown'; owner: string; path: string }
  | { op: 'chownr'; owner: string; path: string }
  | { op: 'chmod'; mode: number; path: string }
  | { op: 'rmfile'; path: string }
  | { op: 'rmdir'; path: string }
  | { op: 'mtime'; path: string; stamp: string };

/**
 * Run by `setpriv --pdeathsig KILL` before unshare: runs its arguments after `$1` if its parent
 * is still the process whose pid is `$1` (ocibuild), else exits 125. A parent-death signal set
 * after the parent died never comes; this check, made with the signal already set, closes that.
 */
export const PARENT_GUARD_SCRIPT = '[ "$PPID" = "$1" ] || exit 125; shift; exec "$@"';

/**
 * Run first, rootless, in the launcher's new user namespace, before anything can use it: asks
 * ocibuild for the namespace's maps (writes `$MW` on fd 3), waits for its line on stdin, then
 * runs its arguments under `setpriv --pdeathsig KILL` with stdin from /dev/null and ocibuild's
 * pipe as stdout (the launcher's watch, see {@link SANDBOX_SCRIPT}). That exec
 * happens as root of the mapped namespace, which gives the launcher its capabilities there (a
 * program started while the caller's id was unmapped runs without any); gaining them clears the
 * parent-death signal, hence setpriv, whose arguments start with {@link ALIVE_CHECK_SCRIPT}.
 */
export const MAP_WAIT_SCRIPT =
  'echo "$MW" >&3; IFS= read -r mapped || { echo "ocibuild-sandbox: the user namespace was not mapped" >&2; exit 125; }; exec "$SETPRIV" --pdeathsig KILL -- "$@" 1<&0 0</dev/null';

/**
 * Runs its arguments if ocibuild still reads fd 3. With the parent-death signal just set again
 * (see {@link MAP_WAIT_SCRIPT}), a write that succeeds proves unshare was alive when it was set:
 * if ocibuild had died, its end of the pipe would be closed.
 */
export const ALIVE_CHECK_SCRIPT = 'echo ocibuild-launcher >&3 || exit 125; exec "$@"';

/** Flattens ops into the script's positional arguments. */
export function encodeOps(ops: SandboxOp[]): string[] {
  const out: string[] = [];
  for (const o of ops) {
    switch (o.op) {
      case 'mkdir':
        out.push('mkdir', o.path, o.mode.toString(8), o.owner);
        break;
      case 'chmod':
        out.push('chmod', o.mode.toString(8), o.path);
        break;
      case 'chown':
      case 'chownr':
        out.push(o.op, o.owner, o.path);
        break;
      case 'stage':
        out.push('stage', o.source, o.path, o.kind);
        break;
      case 'rmfile':
      case 'rmdir':
        out.push(o.op, o.path);
        break;
      case 'mtime':
        out.push('mtime', o.path, o.stamp);
        break;
    }
  }
  return out;
}

/**
 * The launcher. Environment: `S` (private scratch directory holding the fifos `block`, `info`,
 * `out`, `err` and bwrap's `args` file), `U`, `G`, `GR` (the step's uid, gid and groups in this
 * shell's namespace), `UMAP`, `GMAP` (the map lines to write), `SETPRIV`, `BWRAP`, and, when
 * started by ocibuild, `W`: the descriptor (0 or 1) holding ocibuild's pipe, watched for its end
 * (the launcher is then the init of its own PID namespace). Positional
 * arguments: ops, then `run`, then the step's argv. Without `run` it only carries out the ops
 * (clean-up). Exit status: bwrap's (the command's, reported on fd 3 too), 125 on set-up failure.
 */
export const SANDBOX_SCRIPT = String.raw`
fail() { echo "ocibuild-sandbox: $*" >&2; exit 125; }
trap '' PIPE
launch() {
op=
while [ $# -gt 0 ]; do
  op=$1; shift
  case $op in
    mkdir) [ -d "$1" ] || { mkdir -m "$2" "$1" && chown -h "$3" "$1"; } || fail "cannot create directory $1"; shift 3 ;;
    stage) { [ -d "$S/src" ] || mkdir -m 711 "$S/src"; } && { if [ "$3" = dir ]; then mkdir "$2"; else : > "$2"; fi; } && mount --bind "$1" "$2" || fail "cannot bind $1"; shift 3 ;;
    chown) chown -h "$1" "$2" || fail "cannot chown $2"; shift 2 ;;
    chownr) chown -hR "$1" "$2" || fail "cannot chown $2"; shift 2 ;;
    chmod) chmod "$1" "$2" || fail "cannot chmod $2"; shift 2 ;;
    rmfile) if [ -f "$1" ] && [ ! -L "$1" ] && [ ! -s "$1" ]; then rm -f "$1"; fi; shift ;;
    rmdir) rmdir "$1" 2>/dev/null; shift ;;
    mtime) touch -h -m -d "$2" "$1" 2>/dev/null; shift 2 ;;
    run) break ;;
    *) fail "unknown op $op" ;;
  esac
done
[ "$op" = run ] || exit 0
# Opening a fifo to write waits for a reader: if ocibuild died before bwrap opened the output
# fifos, that open would wait for ever. Holding them read-write here until bwrap has started
# makes those opens return at once; then only bwrap's ends remain.
exec 4<>"$S/out" 8<>"$S/err"
"$SETPRIV" --reuid="$U" --regid="$G" --groups="$GR" --pdeathsig KILL -- "$BWRAP" --args 9 -- "$@" 6<"$S/block" 7>"$S/info" 9<"$S/args" >"$S/out" 2>"$S/err" 4<&- 8<&- &
bw=$!
exec 5>"$S/block"
pid=
# Read to the end: bwrap dies of SIGPIPE if the reader goes away early.
held=1
while IFS= read -r line; do
  # bwrap writes its status once exec'd, so its output fifos are open: drop our holds.
  [ -z "$held" ] || { exec 4<&- 8<&-; held=; }
  case $line in *'"child-pid"'*) pid=$${'{'}line#*'"child-pid"'}; pid=$${'{'}pid#"$${'{'}pid%%[0-9]*}"}; pid=$${'{'}pid%%[!0-9]*} ;; esac
done < "$S/info"
[ -z "$held" ] || exec 4<&- 8<&-
[ -n "$pid" ] || { kill -9 $bw 2>/dev/null; wait $bw; fail "bwrap did not start"; }
# One write per map (printf buffers), as the kernel requires.
printf '%s\n' "$UMAP" > "/proc/$pid/uid_map" && printf '%s\n' "$GMAP" > "/proc/$pid/gid_map" || { kill -9 $pid $bw; fail "cannot write the id maps of the sandbox"; }
echo 1 >&5
exec 5>&-
wait $bw
}
[ -n "$W" ] || { launch "$@"; exit; }
# The watch. Fd W is a pipe from ocibuild that it never writes again and closes only at its end
# (or when the launcher has ended), so the read below ends only when ocibuild is gone. The
# launcher then runs as a child of this shell, the init of the PID namespace: the watcher kills
# every process of the namespace but init (the launcher and all it started), init's wait ends,
# and with init gone the kernel kills whatever is left, nested namespaces included. This holds
# whatever became of the parent-death signals (unshare's --kill-child is set in its child after
# the fork: an unshare killed in between leaves that child running).
[ "$$" = 1 ] || fail "the watch needs a PID namespace of its own"
case $W in
  0) exec 1<&0 0</dev/null ;;
  1) ;;
  *) fail "bad watch fd $W" ;;
esac
# The launcher first: a watcher that finds the pipe ended at once must still find it to kill.
launch "$@" >/dev/null &
l=$!
# (An asynchronous list's stdin is /dev/null before its own redirections: the watcher reads fd 1.)
{ IFS= read -r _; kill -9 -1; } <&1 >/dev/null 2>&1 &
exec 1>/dev/null
wait $l
`;
