// Where the CLI finds its server and credentials: AFFIX_* variables first, else the file `affix login` wrote (mode 0600).
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Credentials } from '../client/index.js';

export interface Profile {
  url: string;
  credentials: Credentials;
}

/** `$XDG_CONFIG_HOME/affix`, else `~/.config/affix`. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'affix');
}

/** `$XDG_STATE_HOME/affix`, else `~/.local/state/affix`: what unfinished uploads need to go on. */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'affix');
}

export const configFile = (env: NodeJS.ProcessEnv = process.env) => join(configDir(env), 'config.json');

/** A usage problem: what to run instead. */
export class NotSignedIn extends Error {}

/**
 * The server and credentials: each of `AFFIX_URL`, `AFFIX_TOKEN` + `AFFIX_ORG` or `AFFIX_EMAIL` +
 * `AFFIX_API_KEY` wins over the file, which is needed only for what the variables leave out.
 */
export async function loadProfile(env: NodeJS.ProcessEnv = process.env): Promise<Profile> {
  const saved = await readFile(configFile(env), 'utf8').then((text) => JSON.parse(text) as Partial<Profile>, () => ({}) as Partial<Profile>);
  const url = env.AFFIX_URL || saved.url;
  const credentials: Credentials | undefined =
    env.AFFIX_TOKEN && env.AFFIX_ORG
      ? { token: env.AFFIX_TOKEN, org: env.AFFIX_ORG }
      : env.AFFIX_EMAIL && env.AFFIX_API_KEY
        ? { email: env.AFFIX_EMAIL, apiKey: env.AFFIX_API_KEY }
        : saved.credentials;
  if (!url || !credentials) {
    throw new NotSignedIn(`not signed in: run \`affix login --url URL --token T --org O\` (or --email E --api-key K), or set AFFIX_URL and AFFIX_TOKEN with AFFIX_ORG`);
  }
  return { url, credentials };
}

/** Writes the file whole or not at all, readable by its owner only. */
export async function saveProfile(profile: Profile, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const dir = configDir(env);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = configFile(env);
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(profile, null, 2)}\n`, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, path);
  return path;
}
