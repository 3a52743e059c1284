"""Long-running front ends over the same library calls as the CLI: an HTTP API and web page (http.py),
an MCP server (mcp.py), and `watch` (watch.py), all reading the live index (live.py)."""
