import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// `npm run dev` talks to a `crm serve` on 8080; the built app is served by `crm serve` itself.
const api = process.env.CRM_API ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      "/graphql/ws": { target: api, ws: true },
      "/graphql": api,
      "/files": api,
    },
  },
  // The gzipped first-screen budget is checked by scripts/size.mjs.
  build: { sourcemap: false, chunkSizeWarningLimit: 500 },
  test: { include: ["src/**/*.test.ts"] },
});
