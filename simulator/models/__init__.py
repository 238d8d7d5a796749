"""Model access: settings, the litellm gateway, local GGUF models and model checks."""
