# Two commands do all the set-up: `make demo` (install + index a real catalog + search it) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= ../shared/data
STORE ?= stores/fashion-product-images
HM_USER ?= 0b93752cb5c8502112d84dcf0bcfe929380a308e49e3c66b427c593ef5e2f5c9

.PHONY: install demo serve test bench clean

$(BIN)/dressup: pyproject.toml
	@echo "Installing DressUp into $(VENV) with the extras for training and tests (torch's CPU build: about 3 GB, a few minutes)."
	@echo "A serving-only install is 'pip install .' (about 840 MB in a venv, no torch, no opencv)."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install -e ".[eval,train,text,test]" | grep --line-buffered -E "^(Collecting|Installing|Successfully)"; \
		test $${PIPESTATUS[0]} -eq 0  # pip's progress, one line per package; pip's own status decides
	touch $@

install: $(BIN)/dressup

demo: install
	$(BIN)/dressup index $(DATA)/fashion-product-images --store $(STORE)
	$(BIN)/dressup similar --store $(STORE) --item 15970 -k 5
	$(BIN)/dressup similar --store $(STORE) --item 15970 -k 5 --where category=Shirts --colour Blue
	$(BIN)/dressup search --store $(STORE) "navy blue shirts for men" -k 5
	$(BIN)/dressup eval retrieval --store $(STORE) --label articleType --label baseColour
	$(BIN)/dressup tag $(DATA)/fashion-product-images/images/15970.jpg
	$(BIN)/dressup index $(DATA)/mango-outfits --store stores/mango
	$(BIN)/dressup outfits train --store stores/mango --outfits $(DATA)/mango-outfits/outfits.csv
	$(BIN)/dressup outfits complete --store stores/mango --items 41085800-02 -n 3
	$(BIN)/dressup index $(DATA)/hm-sample --store stores/hm
	$(BIN)/dressup events import --store stores/hm $(DATA)/hm-sample/transactions.csv || true  # a second demo run finds it imported
	$(BIN)/dressup recommend --store stores/hm --user $(HM_USER) -k 5

serve: install  # the REST API and web page over the demo's Mango store (outfits, tags, feed): http://127.0.0.1:8000/
	$(BIN)/dressup serve --store stores/mango --workers 2

test: install  # the style check, then the tests and the docstrings' examples
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/indexing_throughput.py
	$(BIN)/python benchmarks/search_latency.py
	$(BIN)/python benchmarks/api_load.py --store $(STORE) --workers 2

clean:
	rm -rf $(VENV) stores
