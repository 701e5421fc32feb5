#include "host_support.h"

#include <sys/prctl.h>

int pipeline_set_parent_death_signal(int signal) { return prctl(PR_SET_PDEATHSIG, signal, 0, 0, 0); }
