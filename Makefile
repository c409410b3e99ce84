# Two commands do all the set-up: `make demo` (install + index a real catalog + search it) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= ../shared/data
STORE ?= stores/fashion-product-images

.PHONY: install demo test bench clean

$(BIN)/dressup: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[eval,train,text,test]"
	touch $@

install: $(BIN)/dressup

demo: install
	$(BIN)/dressup index $(DATA)/fashion-product-images --store $(STORE)
	$(BIN)/dressup similar --store $(STORE) --item 15970 -k 5
	$(BIN)/dressup similar --store $(STORE) --item 15970 -k 5 --where category=Shirts --colour Blue
	$(BIN)/dressup eval retrieval --store $(STORE) --label articleType --label baseColour
	$(BIN)/dressup tag $(DATA)/fashion-product-images/images/15970.jpg
	$(BIN)/dressup index $(DATA)/mango-outfits --store stores/mango
	$(BIN)/dressup outfits train --store stores/mango --outfits $(DATA)/mango-outfits/outfits.csv
	$(BIN)/dressup outfits complete --store stores/mango --items 41085800-02 -n 3

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/indexing_throughput.py
	$(BIN)/python benchmarks/search_latency.py

clean:
	rm -rf $(VENV) stores
