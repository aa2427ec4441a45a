/*
 * crash — named crash points for recovery tests (R-34; build option
 * FELHOM_TESTING).  With FELHOM_CRASHPOINT=NAME in the environment, the
 * process calls _exit(137) when it reaches crash_point(NAME), as a
 * kill -9 would leave it.  In builds without FELHOM_TESTING crash_point()
 * compiles to nothing.  FELHOM_CRASHPOINT_TRACE=PATH appends the name of
 * every point passed to PATH, one a line (which points a run reaches).
 *
 * Every name used must be in the table of crash.c, so that
 * `felhom-agent --list-crashpoints` lists them all (a test checks it).
 */
#ifndef FELHOM_BASE_CRASH_H
#define FELHOM_BASE_CRASH_H

#include <stdio.h>

#ifdef FELHOM_TESTING
void	crash_point_hit(const char *name);
#define crash_point(name)	crash_point_hit(name)
#else
#define crash_point(name)	((void)0)
#endif

/* 1 when name is in the table. */
int	crash_known(const char *name);
/* Prints one name per line with its description; returns 0. */
int	crash_list(FILE *f);

#endif
