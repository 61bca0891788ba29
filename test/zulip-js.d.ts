declare module 'zulip-js' {
  interface ZulipClient {
    callEndpoint(endpoint: string, method?: string, params?: Record<string, unknown>): Promise<any>;
    messages: {
      send(params: Record<string, unknown>): Promise<any>;
      update(params: Record<string, unknown>): Promise<any>;
    };
  }
  export default function zulip(config: { username: string; apiKey: string; realm: string }): Promise<ZulipClient>;
}
