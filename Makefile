# dexsafe: the two commands people type are `make demo` and `make test`.
# Both set up everything on a fresh Debian/Ubuntu machine with Python 3.11/3.12,
# cmake and a C compiler, and no ROS distro: a .venv with pinned dependencies
# (ROS 2 Kilted wheels, torch CPU, MuJoCo, ...), then a colcon build of this
# package installed into that venv (symlinked, so Python edits need no rebuild).

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BUILD_BASE ?= build
VPY := $(abspath $(VENV))/bin/python
STAMPS := $(VENV)/.dexsafe-stamps

# DDS discovery stays on this host; every make invocation gets its own domain
# (1..100) unless the caller chose one. On a robot network, override both.
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
ifndef ROS_DOMAIN_ID
export ROS_DOMAIN_ID := $(shell echo $$(( ($$$$ % 100) + 1 )))
endif
export MUJOCO_GL ?= osmesa
export PYOPENGL_PLATFORM ?= osmesa
# The venv is the install prefix of the colcon build (ament index, libs, share/).
export AMENT_PREFIX_PATH := $(abspath $(VENV))

REQUIREMENTS := $(sort $(wildcard requirements/*.txt))
INTERFACES := $(sort $(wildcard msg/*.msg srv/*.srv action/*.action))
# The Python and data folders are installed as symlinks to the sources, so only
# these need a rebuild: the build files, the interfaces, the node list.
INSTALL_INPUTS := CMakeLists.txt package.xml $(INTERFACES) $(wildcard scripts/*.in) ros_nodes/nodes.txt

PYTEST_ARGS ?=
BENCH ?=
BENCH_OUT ?= bench_results.json

.PHONY: all setup build test demo bench lint planning-models grasp-policy clean distclean help
all: setup

help:
	@echo "make demo    run the stack in simulation (sets everything up first)"
	@echo "make test    run the whole test suite (sets everything up first)"
	@echo "make bench   run benchmarks (BENCH=group for one group, BENCH_OUT=file.json)"
	@echo "make lint    ruff and package checks only"
	@echo "make grasp-policy  retrain the residual grasp policies in policies/models (GRASP_SEEDS, GRASP_STEPS)"

setup: $(STAMPS)/build

$(STAMPS)/system: tools/install_system_deps.sh
	@mkdir -p $(STAMPS)
	bash tools/install_system_deps.sh
	@touch $@

$(STAMPS)/venv: $(STAMPS)/system
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	@mkdir -p $(STAMPS)
	@touch $@

$(STAMPS)/deps: $(STAMPS)/venv $(REQUIREMENTS) tools/fix_ros_wheel_cmake.py
	$(VPY) -m pip install --quiet --disable-pip-version-check $(addprefix -r ,$(REQUIREMENTS))
	$(VPY) tools/fix_ros_wheel_cmake.py $(abspath $(VENV))
	@touch $@

$(STAMPS)/build: $(STAMPS)/deps $(INSTALL_INPUTS)
	@# Run from the venv without activating it: colcon, cmake's Python and the
	@# generators all take the venv's interpreter.
	PATH=$(abspath $(VENV))/bin:$$PATH CMAKE_PREFIX_PATH=$(abspath $(VENV)) \
	$(VENV)/bin/colcon --log-base $(BUILD_BASE)/log build --base-paths . \
		--build-base $(BUILD_BASE) --install-base $(abspath $(VENV)) --merge-install \
		--symlink-install --event-handlers console_direct- summary+ \
		--cmake-args -DPython3_EXECUTABLE=$(VPY) -DPYTHON_EXECUTABLE=$(VPY) \
		-DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release
	@touch $@

build: $(STAMPS)/build

test: setup
	$(VPY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VPY) -m pytest -m lint $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/dexsafe demo

bench: setup
	$(VENV)/bin/dexsafe bench $(if $(BENCH),--group $(BENCH)) --out $(BENCH_OUT)

# Retrain the small planning models shipped in planning/models (deterministic, ~1 min on a CPU).
planning-models: setup
	$(VENV)/bin/dexsafe plan train

# Retrain the residual grasp-and-lift policies shipped in policies/models: one PPO run per seed,
# GRASP_SEEDS in parallel (one core each; about 25 min for 100k steps on a 2-core machine).
GRASP_SEEDS ?= 0 1
GRASP_STEPS ?= 100000
grasp-policy: setup
	@mkdir -p out; for s in $(GRASP_SEEDS); do \
	  out=policies/models/grasp_lift_residual$$( [ $$s = 0 ] || echo _seed$$s ).pt; \
	  $(VENV)/bin/dexsafe grasp train --steps $(GRASP_STEPS) --seed $$s --out out/grasp_train/seed$$s \
	    --export $$out > out/grasp_train_seed$$s.log 2>&1 & \
	done; wait; tail -n 2 out/grasp_train_seed*.log

clean:
	rm -rf $(BUILD_BASE) $(STAMPS)/build

distclean: clean
	rm -rf $(VENV)
