"""IVR flows as data: schema, loader that rejects bad flows at load time, a pure runner, default flows and prompts."""
