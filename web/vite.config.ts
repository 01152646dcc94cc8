/// <reference types="vitest/config" />
import { defineConfig } from "vite";

// The UI is served by `cairn server` from the files in dist/, embedded into the binary at build
// time. `npm run dev` proxies the API to a server on :5000.
export default defineConfig({
  build: {
    target: "es2022",
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      "/api": { target: "http://127.0.0.1:5000", ws: true },
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
