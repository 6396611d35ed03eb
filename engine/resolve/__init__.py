"""Records into persons: prepare -> block -> compare -> score -> cluster; explanations; reviewers'
decisions."""
