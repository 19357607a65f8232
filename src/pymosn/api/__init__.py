"""Small interfaces and value types shared by every layer. Imports nothing of ours."""
