package emulator

import "net/http"

func (e *Emulator) adminHandler() http.Handler {
	return http.NotFoundHandler()
}
