"""Server rules: admission, quota policy, approval, moderation, consent, budget alerts, usage."""
