// undici's own files, imported one by one (see undici-lib.ts; a file of its own, since undici-lib.d.ts would be taken for that module's output); typed there from undici's index types.
declare module 'undici/lib/dispatcher/agent.js' {
  const value: unknown;
  export default value;
}
declare module 'undici/lib/dispatcher/env-http-proxy-agent.js' {
  const value: unknown;
  export default value;
}
declare module 'undici/lib/core/connect.js' {
  const value: unknown;
  export default value;
}
declare module 'undici/lib/dispatcher/dispatcher.js' {
  const value: unknown;
  export default value;
}
declare module 'undici/lib/api/index.js' {
  const value: unknown;
  export default value;
}
declare module 'undici/lib/dispatcher/client-h1.js' {
  const value: unknown;
  export default value;
}
