"""Importing a user's images (folder, glob, ``s3://`` prefix or manifest) as a gallery."""
