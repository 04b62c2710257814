"""The front door: route declarations, body families, middleware and the routes of each area.

Routes parse and validate, call a service or an actor, and shape the response; nothing below this
package imports it.
"""
