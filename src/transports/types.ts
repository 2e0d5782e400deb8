/**
 * The transport interface: one place images are read from or written to
 * (a registry repository, an OCI layout, a docker-archive tarball). Re-exported from where it
 * is declared, below the implementations.
 * @module
 */
export type { BlobBody, BlobOrigin, OperationOptions } from '../blob/types.ts';
export type { Transport, TransportCapabilities } from '../image/transport.ts';
