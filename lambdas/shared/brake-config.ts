import { z } from 'zod';
import { ConfigError } from './errors';

// The brake's settings, apart from brake.ts: the config file's schema (and so the command
// line's start) needs them, not the brake itself.

/** The defaults: more than 25 deactivations within an hour pause the next one. */
export const DEFAULT_BRAKE = { limit: 25, windowMinutes: 60 } as const;

/** The brake's settings (config `brake`), each optional: the defaults fill in. */
export const brakeConfigSchema = z
  .object({
    limit: z
      .number({ error: 'must be a number' })
      .int('must be a whole number')
      .min(1, 'must be at least 1 (0 would pause every offboarding)')
      // The window's counted runs live in one ledger item (DynamoDB: 400 KB): a thousand entries
      // of about 150 bytes leave room; a larger limit would make every count fail.
      .max(1_000, 'must be at most 1000 (the brake keeps the counted runs of a window in one ledger item)')
      .optional(),
    windowMinutes: z
      .number({ error: 'must be a number' })
      .int('must be a whole number of minutes')
      .min(1, 'must be at least 1')
      .max(10_080, 'must be at most 10080 (a week)')
      .optional(),
  })
  .strict();
export type BrakeConfigInput = z.infer<typeof brakeConfigSchema>;

/** The brake's settings, resolved. */
export interface BrakeConfig {
  limit: number;
  windowMinutes: number;
}

/** The config's `brake` with the defaults filled in. */
export function resolveBrake(config?: BrakeConfigInput): BrakeConfig {
  return {
    limit: config?.limit ?? DEFAULT_BRAKE.limit,
    windowMinutes: config?.windowMinutes ?? DEFAULT_BRAKE.windowMinutes,
  };
}

/** The deployed brake function's settings (OFFBOARD_BRAKE_LIMIT, OFFBOARD_BRAKE_WINDOW_MINUTES). */
export function brakeFromEnv(env: NodeJS.ProcessEnv = process.env): BrakeConfig {
  const number = (name: string) => {
    const text = env[name];
    if (text === undefined || text === '') return undefined;
    if (!/^\d+$/.test(text)) throw new ConfigError(`${name} must be a whole number, not '${text}'`);
    return Number(text);
  };
  const parsed = brakeConfigSchema.safeParse({
    limit: number('OFFBOARD_BRAKE_LIMIT'),
    windowMinutes: number('OFFBOARD_BRAKE_WINDOW_MINUTES'),
  });
  if (!parsed.success) {
    const names: Record<string, string> = {
      limit: 'OFFBOARD_BRAKE_LIMIT',
      windowMinutes: 'OFFBOARD_BRAKE_WINDOW_MINUTES',
    };
    throw new ConfigError(
      `brake settings: ${parsed.error.issues.map((i) => `${names[String(i.path[0])] ?? 'brake'} ${i.message}`).join('; ')}`,
    );
  }
  return resolveBrake(parsed.data);
}
