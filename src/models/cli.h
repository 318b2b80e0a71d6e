/* cli.h: `vocero models list | pull NAME... | verify [NAME...] | rm NAME... | path NAME`.
 * MODELS_DIR and HF_TOKEN come from the configuration (.env, environment; --env-file FILE
 * and --models-dir DIR override), HF_ENDPOINT from the environment. */
#ifndef VB_MODELS_CLI_H
#define VB_MODELS_CLI_H

/* argv[0] is "models". Returns the process exit status: 0 success, 1 failure (a download or
 * verification failed), 2 usage or configuration error. */
int models_cli_main(int argc, char **argv);

#endif
