"""What a branch changes and who downstream is affected; a local preview on a warehouse copy."""
