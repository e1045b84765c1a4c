# The two commands of the README: `make demo` and `make test`. Both do all set-up themselves.
# `make lint` (the static checks, with ruff's format check) and `make bench` (issue 11's benchmark,
# written to bench/RESULTS.md) set up what they need too.
.PHONY: demo test lint bench clean

demo:
	scripts/demo.sh

test:
	scripts/test.sh

lint:
	scripts/venv.sh test,lint
	scripts/lint.sh

bench:
	scripts/bench.sh

clean:
	rm -rf .venv build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.* htmlcov .tox
