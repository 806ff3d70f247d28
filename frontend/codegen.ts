import type { CodegenConfig } from "@graphql-codegen/cli";

// Operations in src/ are typed against the server's schema; documents are plain strings,
// so the app ships no GraphQL runtime.
const config: CodegenConfig = {
  schema: "../schema.graphql",
  documents: ["src/**/*.{ts,tsx}", "!src/gql/**/*"],
  ignoreNoDocuments: true,
  generates: {
    "./src/gql/": {
      preset: "client",
      config: {
        documentMode: "string",
        enumsAsTypes: true,
        useTypeImports: true,
        scalars: { DateTime: "string", NaiveDate: "string", UUID: "string" },
      },
      presetConfig: { fragmentMasking: false },
    },
  },
};
export default config;
