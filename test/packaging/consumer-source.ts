/**
 * The TypeScript file the packaging test compiles as a consumer would write it: `as const`
 * option objects (readonly arrays), the public entry points and the typed errors.
 * Run as `node main.js LAYOUT REGISTRY_HOST APP_DIR`; prints one JSON line.
 * @module
 */
export const CONSUMER_SOURCE = `import {
  buildImage,
  copyImage,
  createSession,
  DockerfileError,
  inspectImage,
  listTags,
  OcibuildError,
  RegistryError,
  type BuildOptions,
  type BuildResult,
  type Inspection,
  type SessionOptions,
} from 'ocibuild';

const [layout, host, appDir] = process.argv.slice(2);
if (layout === undefined || host === undefined || appDir === undefined) throw new Error('usage: main.js LAYOUT HOST APP_DIR');

const transport = { registries: { insecure: [host], concurrency: 2 } } as const satisfies SessionOptions;
const copied = await copyImage(\`oci:\${layout}:latest\`, \`\${host}/consumer/base:1\`, { ...transport, platforms: 'all', tags: ['stable'] });
const session = createSession(transport);
const inspected: Inspection = await inspectImage(\`\${host}/consumer/base:1\`, { session });
const tags = await listTags(\`\${host}/consumer/base\`, { session });
await session.close();

const options = {
  from: \`\${host}/consumer/base:1\`,
  layers: [{ directories: [{ source: appDir, destination: '/app', exclude: ['*.tmp'] }], createdBy: 'consumer: app files' }],
  config: { entrypoint: ['/bin/sh', '/app/run.sh'], env: ['MODE=test'], exposedPorts: ['8080'], volumes: ['/data'] },
  to: [\`\${host}/consumer/app:1\`],
  tags: ['latest'],
  platforms: ['linux/amd64'],
  registries: { insecure: [host] },
  sourceDateEpoch: 0,
} as const satisfies BuildOptions;
const built: BuildResult = await buildImage(options);

let dockerfileLine = 0;
try {
  await buildImage({ dockerfile: { text: 'FROM scratch\\nNOT_AN_INSTRUCTION x\\n', file: 'Dockerfile' }, to: [] });
} catch (error) {
  if (!(error instanceof DockerfileError)) throw error;
  dockerfileLine = error.line;
}

let missingCode = '';
let missingStatus: number | null = null;
try {
  await buildImage({ from: \`\${host}/consumer/missing:1\`, to: [], registries: { insecure: [host] } });
} catch (error) {
  if (!(error instanceof OcibuildError)) throw error;
  missingCode = error.code;
  if (error instanceof RegistryError) missingStatus = error.status ?? null;
}

console.log(JSON.stringify({ copied: copied.digest, inspected: inspected.kind === 'image' ? inspected.digest : '', tags, built: built.digest, pushed: built.targets[0]?.digest, dockerfileLine, missingCode, missingStatus }));
`;
