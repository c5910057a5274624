/*
 * c_threads_left: the reference C Text echo whose instances each start a worker thread.
 *
 * The worker waits on a condition variable for work that never comes. It blocks in libc, so it does
 * not run into the library's code again once the library is closed: the process survives dlclose
 * and the thread is still there to be counted and named. create_instance returns only once its worker
 * waits there (it holds the lock until pthread_cond_wait releases it), so the fixture's verdicts do not
 * depend on how fast the worker is scheduled: a worker still in its first lines at dlclose would crash.
 *
 * DEFECT: destroy_instance frees the instance but neither stops nor joins the worker. ABI.md 4.9:
 * no plugin-created thread may outlive the library's dlclose; one thread per instance also grows
 * with every node the host creates.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>

#include "../c_common/skfix_c.h"

SKFIX_TEXT_ECHO_METADATA(METADATA, "c_threads_left", "Text echo whose instances each leave a worker thread behind")

static pthread_mutex_t IDLE_LOCK = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t NO_WORK = PTHREAD_COND_INITIALIZER;

/* `started` lives on the creator's stack: the worker sets it under IDLE_LOCK and never reads it again. */
static void *wait_for_work(void *started) {
    pthread_mutex_lock(&IDLE_LOCK);
    *(volatile int *)started = 1;
    for (;;) pthread_cond_wait(&NO_WORK, &IDLE_LOCK);
    return NULL;
}

/* Returns once the worker has released IDLE_LOCK inside pthread_cond_wait (it holds it until then). */
static void until_worker_waits(volatile int *started) {
    for (;;) {
        pthread_mutex_lock(&IDLE_LOCK);
        int waiting = *started;
        pthread_mutex_unlock(&IDLE_LOCK);
        if (waiting) return;
        sched_yield();
    }
}

static const CNodeMetadata *get_metadata(void) { return &METADATA; }

static CPluginHandle create_instance(const char *params, CLogCallback log_cb, void *log_user_data) {
    CPluginHandle handle = skfix_create_instance(params, log_cb, log_user_data);
    pthread_t worker;
    volatile int started = 0;
    if (handle != NULL && pthread_create(&worker, NULL, wait_for_work, (void *)&started) == 0) {
        pthread_setname_np(worker, "skfix-worker");
        pthread_detach(worker); /* DEFECT: nothing stops or joins it */
        until_worker_waits(&started);
    }
    return handle;
}

SKFIX_PROCESSOR_TABLE(API, get_metadata, create_instance, skfix_text_echo_process, skfix_update_params,
                      skfix_destroy_instance)
SKFIX_EXPORT_API(API)
