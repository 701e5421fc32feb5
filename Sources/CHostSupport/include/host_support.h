/* What the host needs from libc that Swift cannot call directly (variadic
 * functions). Not part of the plugin ABI. */
#ifndef PIPELINE_HOST_SUPPORT_H
#define PIPELINE_HOST_SUPPORT_H

/* prctl(PR_SET_PDEATHSIG, signal): the calling process gets `signal` when the
 * thread that created it ends. Returns 0, or -1 with errno set. */
int pipeline_set_parent_death_signal(int signal);

#endif
