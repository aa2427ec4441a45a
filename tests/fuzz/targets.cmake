# felhom_fuzz_targets(): reads tests/fuzz/targets.tsv, the one list of
# fuzz targets, into FUZZ_TARGETS (the names, in the caller's scope) and
# generates, in the current binary dir, fuzz_targets.h (the prototypes of
# the target functions) and fuzz_targets.c (the table of fuzz.h: name,
# function, seed globs).  Shared by the fuzz build (tests/fuzz) and the
# replay suite (tests/fuzz/suite).
function(felhom_fuzz_targets)
	set(tsv ${CMAKE_SOURCE_DIR}/tests/fuzz/targets.tsv)
	set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${tsv})
	file(STRINGS ${tsv} lines ENCODING UTF-8)
	set(names "")
	set(protos "")
	set(rows "")
	foreach(line IN LISTS lines)
		if(line MATCHES "^[ \t]*(#.*)?$")
			continue()
		endif()
		if(NOT line MATCHES "^([a-z0-9_]+)[ \t]+([^\"\\\\]+)$")
			message(FATAL_ERROR "targets.tsv: bad line '${line}'")
		endif()
		set(name ${CMAKE_MATCH_1})
		string(REGEX REPLACE "[ \t]+" " " seeds "${CMAKE_MATCH_2}")
		string(STRIP "${seeds}" seeds)
		if(name IN_LIST names)
			message(FATAL_ERROR "targets.tsv: '${name}' twice")
		endif()
		list(APPEND names ${name})
		string(APPEND protos
		    "int\tfuzz_${name}(const uint8_t *data, size_t size);\n")
		string(APPEND rows
		    "\t{ \"${name}\", fuzz_${name},\n\t    \"${seeds}\" },\n")
	endforeach()
	file(CONFIGURE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/fuzz_targets.h
	    CONTENT "/* Generated from tests/fuzz/targets.tsv; do not edit. */
#ifndef FELHOM_TESTS_FUZZ_TARGETS_H
#define FELHOM_TESTS_FUZZ_TARGETS_H

#include <stddef.h>
#include <stdint.h>

@protos@
#endif
" @ONLY)
	file(CONFIGURE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/fuzz_targets.c
	    CONTENT "/* Generated from tests/fuzz/targets.tsv; do not edit. */
#include <stddef.h>

#include \"fuzz.h\"

const struct fuzz_target fuzz_targets[] = {
@rows@};
const size_t fuzz_ntargets = sizeof(fuzz_targets) / sizeof(fuzz_targets[0]);
" @ONLY)
	set(FUZZ_TARGETS ${names} PARENT_SCOPE)
endfunction()
