declare module 'dynalite' {
  import type { Server } from 'node:http';
  /** dynalite 4: a DynamoDB-compatible server (in memory unless `path` is given). */
  export default function dynalite(options?: {
    path?: string;
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
  }): Server;
}
