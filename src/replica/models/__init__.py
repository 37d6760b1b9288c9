"""Model families, one file each, with their config dataclass and from_config/save/load."""
