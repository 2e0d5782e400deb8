/**
 * Credential providers: Docker config.json (with credential helpers), podman/buildah auth.json,
 * static maps, chains, and the default chain.
 * @module
 */
export { dockerConfigCredentials, dockerConfigPath, type DockerConfigOptions } from './docker-config.ts';
export { containersAuthCredentials, containersAuthPaths, type ContainersAuthOptions } from './containers-auth.ts';
export {
  staticCredentials,
  fixedCredentials,
  chainCredentials,
  defaultCredentials,
  type DefaultCredentialsOptions,
  type StaticCredentialsOptions,
} from './compose.ts';
export { runCredentialHelper, DEFAULT_HELPER_TIMEOUT_MS, type CredentialHelperOptions } from './helper.ts';
