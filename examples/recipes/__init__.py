"""The README's "Add it to your app" recipes, one complete app per file (tests/test_recipes.py runs them)."""
