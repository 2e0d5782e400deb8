// tar-stream's header codec, a CommonJS file without type declarations; typed in tar-headers.ts.
declare module 'tar-stream/headers.js' {
  const value: unknown;
  export default value;
}
