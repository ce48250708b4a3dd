// Drives the real pusher-js client (and the official `pusher` server SDK) against a SimRelay feed.
// Usage: node client.mjs '<json options>'; prints one JSON line per observation on stdout, which the
// pytest side (test_pusher_js.py) reads under deadlines. It never decides pass or fail itself.
import Pusher from "pusher-js";
import PusherServer from "pusher";

const options = JSON.parse(process.argv[2]);
const say = (line) => process.stdout.write(JSON.stringify(line) + "\n");

const client = new Pusher(options.key, {
  cluster: "local", // required by pusher-js 8, unused once wsHost is set
  wsHost: options.host,
  wsPort: options.port,
  wsPath: options.wsPath ?? "",
  forceTLS: false,
  enabledTransports: ["ws"],
  disableStats: true,
  channelAuthorization: {
    endpoint: options.authEndpoint,
    transport: "ajax",
    headers: { Authorization: `Bearer ${options.token}` },
  },
});

// A pusher:error during the handshake arrives wrapped: {type: "WebSocketError", error: {type: "PusherError", data}}.
client.connection.bind("error", (error) => {
  const data = error?.error?.data ?? error?.data ?? {};
  say({ type: "connection_error", code: data.code ?? null, message: data.message ?? null });
});
client.connection.bind("state_change", (states) => say({ type: "state", state: states.current }));
client.connection.bind("connected", () => {
  say({ type: "connected", socket_id: client.connection.socket_id });
  const channel = client.subscribe(options.channel);
  channel.bind("pusher:subscription_succeeded", async () => {
    say({ type: "subscribed", channel: options.channel });
    if (options.trigger) {
      // The official server SDK signs the request; the feed must accept it and deliver the event.
      const server = new PusherServer({
        appId: options.trigger.appId, key: options.key, secret: options.trigger.secret,
        host: options.host, port: String(options.port), useTLS: false,
      });
      const response = await server.trigger(options.channel, "sdk.event", { hello: "from the pusher SDK" });
      say({ type: "triggered", status: response.status });
    }
  });
  channel.bind("pusher:subscription_error", (error) => say({ type: "subscription_error",
                                                             status: error?.status ?? null }));
  channel.bind_global((name, data) => {
    if (!name.startsWith("pusher:")) say({ type: "event", name, data });
  });
});

process.stdin.on("end", () => { client.disconnect(); process.exit(0); });
process.stdin.resume();
