"""The light server: its client pool service and (later) the light-serving endpoint."""
