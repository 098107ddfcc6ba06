"""Call-takers: states, skills, AMI actions, per-agent statistics."""
