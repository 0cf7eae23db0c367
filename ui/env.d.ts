// esbuild bundles imported CSS into the app's stylesheet; to TypeScript it is a side effect only.
declare module '*.css';
