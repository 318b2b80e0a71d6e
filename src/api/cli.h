/* cli.h: the sub-commands that run the API's code from the shell: serve, user, routes. */
#ifndef VB_API_CLI_H
#define VB_API_CLI_H

/* `vocero serve [--env-file F] [--NAME VALUE]...`: runs the server until SIGTERM/SIGINT.
 * Returns the process exit status. */
int api_cli_serve(int argc, char **argv);
/* `vocero user add NAME`: creates an account; the password is read from stdin. */
int api_cli_user(int argc, char **argv);
/* `vocero routes`: prints "METHOD PATTERN summary" for every route. */
int api_cli_routes(int argc, char **argv);

#endif
