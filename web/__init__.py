"""The app factory, pages, JSON API, websocket hub, auth middleware, static assets and CLI."""
