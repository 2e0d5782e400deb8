/**
 * Counting this process's open TCP connections to one port, for tests that prove nothing is left
 * open. Idle keep-alive sockets are unref'd by undici, so `process.getActiveResourcesInfo()` does
 * not list them: the socket fds of /proc/self/fd are matched with the /proc/net/tcp{,6} entries
 * whose remote port is `port` (state 0A, LISTEN, is never a client socket).
 * @module
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Open connections of this process whose remote port is `port`. */
export function socketsTo(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length > 9 && fields[2]?.endsWith(`:${hex}`) && fields[3] !== '0A') inodes.add(fields[9] as string);
    }
  }
  let open = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
      if (inode !== undefined && inodes.has(inode)) open++;
    } catch {
      // the fd closed while listing
    }
  }
  return open;
}
