# The two commands of the README: `make demo` and `make test`. Both do all set-up themselves.
.PHONY: demo test lint bench clean

demo:
	scripts/demo.sh

test:
	scripts/test.sh

clean:
	rm -rf .venv build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
