import { defineConfig } from "vitest/config";

export default defineConfig({ test: { include: ["react/test/**/*.test.ts"], environment: "node" } });
