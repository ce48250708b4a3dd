"""The SimRelay HTTP API: aiohttp app factory, routes, auth; talks to services, never to modems."""
